"""Residents' rights: consent and receipts, access by purpose, subject rights, retention."""
