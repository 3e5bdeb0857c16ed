"""The host layer: Docker engines, images and containers on the stack's VMs, over SSH.

- ``containers``: a service replica as data (``ContainerSpec``) and its ``docker run`` argv.
- ``docker``: Docker commands as command objects (Kamal-style; no I/O).
- ``facts``: what one round trip per host reads, and the parsers of its output.
- ``placement``: stable, spread placement of replicas on a group's hosts. Pure.
- ``model``: desired host resources for the planner (engine, images, containers). Pure.
- ``layer``: observation and apply steps over SSH, for the engine.
"""
