print("vqz")
