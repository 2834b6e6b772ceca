"""Foundations every other ragdrop package may use: files, validation, provenance, protocols.

This is the lowest floor: modules here import nothing from the rest of ragdrop.
"""
