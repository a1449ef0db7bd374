"""GraphDefs as data: reading and writing, name references, the op vocabulary, stats, the signature, the editable working graph."""
