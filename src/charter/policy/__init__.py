"""The city's trust policy as code: loaded from a file, enforced on the register."""
