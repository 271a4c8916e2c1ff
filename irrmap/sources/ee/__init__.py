"""Earth Engine source: the same aligned rasters on the run's Grid as the file source, fetched from Earth Engine.

catalog (datasets), graphs (server-side computations), auth (credentials), tiles (request tiling),
transport (computePixels calls), retry (back-off), fetch (plan, download, resume, assembly).
earthengine-api is an optional extra: `pip install 'irrmap[ee]'`; only modules that talk to Earth Engine import it,
lazily.
"""
