"""TensorFlow Lite: conversion, the will-it-load check, and export with verification."""
