"""Events (motion, camera offline/online, recording gaps...) and their outbox rows."""
