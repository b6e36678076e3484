"""The module's Help and Acknowledgement texts (slicer/modulehelp.py).

That the module file shows them, and that the help names every parameter, is checked on the loaded
module file in test_ui_binding.py; here, what the texts hold and that they go through the translator.
"""
from UnsupervisedCTSegLib.slicer import modulehelp, texts


def test_help_describes_the_buttons_then_lists_the_parameters_and_links_the_project():
    text = modulehelp.helpText()
    for button in ("Preview current slice", "Apply", "Cancel", "Study CT preset", "Our defaults"):
        assert f"<b>{button}</b>" in text, button
    assert text.index("<p>Parameters:</p>") < text.index(texts.parameter_help())
    assert f'<a href="{modulehelp.PROJECT_PAGE}">project page</a>' in text


def test_acknowledgement_cites_both_papers():
    text = modulehelp.acknowledgementText()
    assert "Unsupervised image segmentation by backpropagation" in text and "ICASSP" in text
    assert "differentiable feature clustering" in text and "Transactions on Image Processing 29, 2020" in text


def test_help_goes_through_the_translator():
    marked = modulehelp.helpText(lambda text: "«" + text + "»")
    assert marked.startswith("«\nSegments a CT volume") and "«one of proposed" in marked
    assert modulehelp.acknowledgementText(str.upper).strip().startswith("THE METHOD FOLLOWS")
