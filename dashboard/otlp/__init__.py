"""Dashboard layer: the OTLP/HTTP trace receiver (POST /v1/traces) — decode, map to calls, apply."""
