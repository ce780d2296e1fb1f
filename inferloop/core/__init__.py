"""The server core that the API and the flows share: settings, metadata store, storage, errors, auth, tiers,
usage, rate limits and webhooks."""
