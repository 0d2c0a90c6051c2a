"""The script Streamlit runs, alone in its folder (see app.py here)."""
