"""Amparo: a tracker for deportation-stay, release and prosecutorial-discretion requests."""
