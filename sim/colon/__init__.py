"""Colon assets: the generalised-cylinder record, the procedural generator and the mesh importer."""
