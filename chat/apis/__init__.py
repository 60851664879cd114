"""REST and streaming endpoints of the chat app."""
