"""Action items: detections in tool output (hooks, automations) that complete todos."""
