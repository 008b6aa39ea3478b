"""Schema files of the customer-interaction plugin (installed as `customer_interaction.schemas`)."""
