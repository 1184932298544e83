"""Streams: connection-log changes delivered to a SIEM (syslog, Splunk HEC, HTTP JSON) at
least once, in feed order, by the background workers (django-tasks with its database
backend). ``models`` holds the tables, ``destinations`` the senders, ``delivery`` one
stream's round, ``scheduling`` the workers' heartbeat and dispatch, ``status`` the health.
"""
