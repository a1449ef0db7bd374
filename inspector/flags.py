"""Flags the inspector CLI and the codelab scripts both take: argparse definitions only, so a script imports no CLI."""

from __future__ import annotations

import argparse


def unsafe_ops_option(p: argparse.ArgumentParser) -> None:
    """--allow-unsafe-ops: run a graph whose ops read or write files or run code."""
    p.add_argument("--allow-unsafe-ops", dest="allow_unsafe_ops", action="store_true",
                   help="run the graph even if it holds ops that read or write files or run code (only for graphs you trust)")


def strip_dropout_option(p: argparse.ArgumentParser, *, help: str) -> None:
    """--strip-dropout (also TensorFlow-style --strip_dropout): cut out training dropout; ``help`` says what for."""
    p.add_argument("--strip-dropout", "--strip_dropout", dest="strip_dropout", action="store_true", help=help)


def feed_options(p: argparse.ArgumentParser) -> None:
    """--input and --feed: what each input of the graph is fed, for graphs retrain.py did not make (run/feeds.py reads them)."""
    p.add_argument("--input", dest="inputs", action="append", default=[], metavar="NAME[:SHAPE[:DTYPE]]",
                   help="a model input, with its shape and dtype where the graph leaves them open, e.g. "
                        "images:1,64,64,1:float32 (repeatable; default: the graph's model inputs)")
    p.add_argument("--feed", dest="feeds", action="append", default=[], metavar="NAME=VALUE|FILE.npy",
                   help="feed this value to a placeholder on every run, e.g. keep_prob=1.0 or features=x.npy "
                        "(repeatable; dropout keep probabilities, rates and training flags get their inference value by default)")


__all__ = ["unsafe_ops_option", "strip_dropout_option", "feed_options"]
