"""Python side of RTC Node: nodes, relay client, relay supervisor and same-origin proxy."""
