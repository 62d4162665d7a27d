"""kopf wiring only: read the world, call the rollout brain, carry out its actions, write status once."""
