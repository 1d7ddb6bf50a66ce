// KELMCheckpoint: see DESIGN §1.
