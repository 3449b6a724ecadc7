"""Small builders for test inputs (invented, benign values only)."""

from __future__ import annotations

CP = "Child Pornography (possession, manufacture, and distribution)"


def report_xml(
    *,
    incident_type: str = CP,
    when: str = "2020-03-28T14:02:11Z",
    country: str = "NL",
    ip: str = "192.0.2.10",
    extra: str = "",
) -> str:
    """A schema-valid ``<report>`` element."""
    return (
        "<report><incidentSummary>"
        f"<incidentType>{incident_type}</incidentType>"
        f"<incidentDateTime>{when}</incidentDateTime>"
        "</incidentSummary>"
        "<reporter><reportingPerson><firstName>Test</firstName>"
        "<email>trust@example.invalid</email></reportingPerson></reporter>"
        "<personOrUserReported><espIdentifier>u-1</espIdentifier>"
        f"<ipCaptureEvent><ipAddress>{ip}</ipAddress><eventName>Upload</eventName>"
        "</ipCaptureEvent>"
        f'<estimatedLocation verified="false"><countryCode>{country}</countryCode>'
        f"</estimatedLocation>{extra}</personOrUserReported>"
        "</report>"
    )


def file_details_xml(
    report_id: str | None, file_id: str, md5: str, *, viewed: str | None = None
) -> str:
    """A ``<fileDetails>`` element."""
    rid = "" if report_id is None else f"<reportId>{report_id}</reportId>"
    flag = "" if viewed is None else f"<fileViewedByEsp>{viewed}</fileViewedByEsp>"
    return (
        f"<fileDetails>{rid}<fileId>{file_id}</fileId>{flag}"
        f'<originalFileHash hashType="MD5">{md5}</originalFileHash></fileDetails>'
    )


def envelope(report_id: str, report: str, files: str = "", attrs: str = "") -> str:
    return f'<referral id="{report_id}"{attrs}>{report}{files}</referral>'


def md5(n: int) -> str:
    return f"{n:032x}"
