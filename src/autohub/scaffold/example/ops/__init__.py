"""This project's automation code: step functions and automations declared in Python."""
