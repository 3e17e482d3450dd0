"""Sphinx configuration of the course site. Build it with `make book` (tools/book.py), not by hand.

Why Sphinx + MyST-NB + sphinx-book-theme, and not Jupyter Book:
- Jupyter Book 2 is built on mystmd, a Node.js tool: a second toolchain (node, npm packages) beside
  the course's Python one, and its site theme is downloaded, after a query to api.mystmd.org, the
  first time a project is built, which an offline machine cannot do (mystmd issues #207 and #1451,
  both open). Jupyter Book 1 is itself a wrapper around exactly this stack (Sphinx, MyST-NB,
  sphinx-book-theme) and is now in maintenance mode.
- This stack installs with pip into the same .venv, renders the committed outputs of the notebooks
  without executing them (`nb_execution_mode = "off"`), and ships MathJax with the site through
  sphinx-mathjax-offline, so no page needs a CDN.

tools/book.py stages this folder, the notebooks and the generated pages (syllabus, parts, tracks,
dependency graph, gallery) into build/book/src and runs sphinx-build there.
"""

project = "Sparsity Notebooks"
author = "the Sparsity Notebooks authors"
html_show_copyright = False
html_title = "Sparsity Notebooks"

extensions = [
    "myst_nb",  # Markdown pages and .ipynb notebooks (brings myst_parser)
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # serves MathJax 3 from _static: math renders without internet
]

# Notebooks: show what is committed, never execute; no widget JavaScript from a CDN.
nb_execution_mode = "off"
nb_ipywidgets_js = {}
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # notebooks may step from # to ### (a level skipped)

exclude_patterns = ["_generated/*.md", "**/.ipynb_checkpoints"]
html_static_path = ["_static"]
html_css_files = ["course.css"]

html_theme = "sphinx_book_theme"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,  # the .ipynb, from this site
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "use_issues_button": False,
    "use_edit_page_button": False,
    "home_page_in_toc": True,
}
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = True  # the download button offers the .ipynb
