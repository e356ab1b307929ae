"""The clock: scheduled sweeps that turn the deadline rules into alerts."""
