"""The analyst dashboard: Streamlit pages that talk to Frisk's HTTP API only (``frisk dashboard``).

``client`` is the one way to the API; ``pages/`` holds one module per page; ``app`` is the
entry point that ``streamlit run`` executes.
"""
