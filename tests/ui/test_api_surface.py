"""What a script sees of the dashboard: exactly the named API, each parameter named, the page's own
events hidden; a refused call is one line for the caller and no traceback in the console."""

import pytest
from browser_kit import dashboard

gradio_client = pytest.importorskip("gradio_client")

NAMED = {"/submit", "/jobs", "/cancel", "/runs", "/run", "/predict"}


def test_scripts_see_exactly_the_named_api_and_a_refusal_is_one_line(tmp_path, capfd):
    with dashboard(tmp_path / "api.duckdb") as (url, lab):
        client = gradio_client.Client(url, verbose=False)
        info = client.view_api(print_info=False, return_format="dict")
        assert set(info["named_endpoints"]) == NAMED and not info["unnamed_endpoints"]
        for name, endpoint in info["named_endpoints"].items():
            names = [p["parameter_name"] for p in endpoint["parameters"]]
            assert all(n and not n.startswith("param_") for n in names), (name, names)
        assert [p["parameter_name"] for p in info["named_endpoints"]["/predict"]["parameters"]] == ["run_id", "texts"]
        for hidden in ("/on_upload", "/run_1", "/refresh", "/show"):  # the page's events: not for scripts
            with pytest.raises(ValueError):
                client.predict(api_name=hidden)
        capfd.readouterr()
        with pytest.raises(Exception, match="unknown method 'nope'"):
            client.predict("tiny", "tweets-sentiment", ["nope"], 1, {}, api_name="/submit")
        too_many = "a submit queues 1 to 1,000 runs \\(methods x seeds\\); this asks for 100,000"
        with pytest.raises(Exception, match=too_many):
            client.predict("tiny", "tweets-sentiment", ["lora"], 100_000, {}, api_name="/submit")
        assert lab.jobs() == []
        printed = capfd.readouterr()
        assert "Traceback" not in printed.out + printed.err


def test_every_named_endpoint_keeps_another_visitors_weights_and_logs_theirs(shared):
    """Each endpoint as gradio calls it, with the visitor gradio puts in the request: bob sees ann's
    scores, never her weights or logs, and cannot cancel her job; ann gets all of it."""
    import gradio as gr

    from ftlab.ui import api

    lab, ann_run, public_run = shared
    with gr.Blocks() as demo:  # the named API alone (the page's sign-in button needs a Hub login to build)
        api.register(lab)
    endpoint = {fn.api_name: fn.fn for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert set(endpoint) == {name.strip("/") for name in NAMED}
    def signed_in(name):  # a Hugging Face sign-in: gradio hands the endpoint the visitor's profile
        return {"request": gr.Request(), "profile": gr.OAuthProfile({"preferred_username": name, "name": name,
                                                                            "profile": "", "picture": ""})}

    as_bob, as_ann = signed_in("bob"), {"request": gr.Request(username="ann")}  # ann through a password login

    runs = endpoint["runs"]()
    assert next(r for r in runs if r["id"] == ann_run)["accuracy"] is not None  # scores are public
    bob_sees = endpoint["run"](ann_run, **as_bob)
    assert bob_sees["logs"] == [] and bob_sees["artifact_dir"] is None and bob_sees["accuracy"] is not None
    assert endpoint["run"](ann_run, **as_ann)["logs"]
    with pytest.raises(gr.Error, match="are ann's"):
        endpoint["predict"](ann_run, ["good film"], **as_bob)
    assert endpoint["predict"](ann_run, ["good film"], **as_ann)["predictions"]
    assert endpoint["predict"](public_run, ["good film"], **as_bob)["predictions"]
    jobs = {j["id"]: j for j in endpoint["jobs"](**as_bob)}
    assert jobs["jann"]["last_log"] is None and jobs["jann"]["log_path"] is None
    assert endpoint["jobs"](**as_ann)[0]["last_log"] == "ann's tail"
    with pytest.raises(gr.Error, match="only your own jobs"):
        endpoint["cancel"]("jann", **as_bob)
    with pytest.raises(gr.Error, match="sign in with Hugging Face to launch runs"):
        endpoint["submit"]("tiny", "tweets-sentiment", ["head"], 1, {}, request=gr.Request())
    with pytest.raises(gr.Error, match="are ann's"):  # continuing her run starts from her weights
        endpoint["submit"]("tiny", "tweets-sentiment", ["head"], 1, {"init_from": ann_run, "max_train": 64, "epochs": 1,
                                                                     "max_eval": 32, "max_steps": 2}, **as_bob)
    with pytest.raises(gr.Error, match="give a job id"):
        endpoint["cancel"](" ", **as_bob)
