"""engage: an embeddable rules-and-scoring engine for customer engagement."""
