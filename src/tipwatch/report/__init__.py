"""The threat assessment: findings, tables and charts from the analyses, as one page."""
