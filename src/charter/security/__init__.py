"""Controls that keep one compromised device, vendor or token from harming the rest."""
