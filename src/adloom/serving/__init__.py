"""Real-time serving: decide which verified creative a request gets, in the formats players
and exchanges speak (VAST 4, OpenRTB 2.6), and learn from the signed events that come back."""
