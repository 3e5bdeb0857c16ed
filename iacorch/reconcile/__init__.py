"""The control loop: heal what dies, scale what is loaded, without fighting the stack file.

- ``metrics``: container CPU and memory (docker stats over SSH) and request rates (HAProxy).
- ``decide``: the pure decision step, with the clock passed in.
- ``events``: the event log (time, subject, action, reason, result).
- ``loop``: observe -> decide -> act, again and again; the stack lock only while acting.
"""
