"""The script ``streamlit run`` starts (``frisk dashboard`` does it for you).

It lives in a folder of its own because Streamlit treats a ``pages/`` folder beside the script
it runs as an old-style multipage app: the first session after a start then listed the modules of
``frisk.dashboard.pages`` as pages and deep links (``/reviews``) showed a blank page.
"""

from frisk.dashboard.app import main

main()
