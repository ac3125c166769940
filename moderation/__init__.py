"""Word filter, review queue, reports, sanctions and staff roles (the audit log itself is in the kernel)."""
