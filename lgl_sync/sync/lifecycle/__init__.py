"""What happens to an imported order after import: the retailer cancels it."""
