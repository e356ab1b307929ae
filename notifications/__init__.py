"""SMS notifications: messages, the outbox, Twilio and inbound replies."""
