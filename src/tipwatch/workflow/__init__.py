"""The team's work around the referrals: who may log in (users, tokens, sessions), each
referral's case (status, assignee, due time, notes), saved searches, and jobs.

Pure store work and rules; the services authorise and audit every call into it.
"""
