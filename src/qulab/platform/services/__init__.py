"""Services: the use cases (users, scoring, assessments, seeding), each taking a validated
command and a unit-of-work factory.
"""
