"""Airflow glue of sms-response-tracking: hooks, constants and task bodies.

Kept apart from ``sms_response`` (the Airflow-free domain library) so the library stays
testable without Airflow, and DAG files stay thin.
"""
