"""Background work of the sales app (run by ``rapport worker``): thin wrappers that call services.

Each area appends its own tasks here: task reminders and appointment invitations (activities), email
sends (messaging).
"""

from __future__ import annotations
