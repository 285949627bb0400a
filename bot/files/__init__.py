"""Files people share with a message: downloaded with the bot's token, turned into text
(PDF, Word, text and code) or scaled images for models that see."""
