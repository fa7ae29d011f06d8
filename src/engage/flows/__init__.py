"""Campaign flows: compiled flows, each contact's place in them, and the driver that
moves contacts through their steps (LANGUAGE.md section 5; docs/flows.md)."""
