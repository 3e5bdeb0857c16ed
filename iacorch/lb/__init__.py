"""Load balancers as planned resources: HAProxy on the hosts of a group, in front of the
replicas of the services it routes to (``model``: pure; ``layer``: observe, apply, status)."""
