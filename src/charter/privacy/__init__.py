"""Privacy: pseudonymising identifiers, encrypting personal fields, shredding keys."""
