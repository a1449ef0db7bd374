"""TensorFlow Lite: conversion, the will-it-load check, and export with verification."""

# export's --quantize modes, here so the command line lists them without importing the converter's modules.
QUANTIZE_MODES: tuple[str, ...] = ("none", "dynamic", "float16")
