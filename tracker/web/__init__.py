"""The Starlette application: JSON API, HTML pages, Twilio webhooks."""
