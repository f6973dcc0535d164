"""Images: folder listings, canvases, on-device decoding and JPEG, views, generated sets."""
