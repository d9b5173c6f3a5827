"""The local speech server behind scripts/local-speech-server.py (see that file for routes, flags and faults).

Modules, from the wire inwards:
    cli        command line, start-up checks, signal handling
    server     the HTTP server: routing, request validation, fault application
    multipart  multipart/form-data parsing
    faults     fault budgets and request statistics
    audio      decoding uploads to 16 kHz mono PCM, encoding speech into the response formats
    engines    faster-whisper (recognition), Piper (synthesis), the echo stand-ins, and the pool that
               serializes each engine
    formats    the transcript model and its response shapes (OpenAI, whisper.cpp, SRT, VTT)
    errors     the OpenAI-shaped error and logging

Only `engines` imports the third-party packages, and only when an engine is loaded, so an --echo
server starts with the standard library alone.
"""
