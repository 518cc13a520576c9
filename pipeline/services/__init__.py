"""Airflow's processes for a home: profiles, environment, logins, the REST client, up/down, the UI plugin."""
