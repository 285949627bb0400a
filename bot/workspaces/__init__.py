"""Many workspaces from one deployment: installations (Slack's OAuth v2 flow through
Bolt), each workspace's token and identity for the work done on its behalf, token
rotation, and forgetting a workspace that uninstalls the app."""
