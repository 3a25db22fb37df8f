"""Where image bytes live when a response carries a `url`: a local folder, behind signed expiring links."""
