"""The API layer: the tool loop, tools (built-in, plugins, MCP), agents and chains, and
the router app that serves them over HTTP. Its input is messages plus options; its output
is the stream of events a provider yields (see :mod:`chatthy.agent.loop`)."""
